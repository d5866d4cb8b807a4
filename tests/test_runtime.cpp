// The runtime set-up: the OpenBLAS kernel choice on made-up CPUs and reported
// cores (generic → best allowed, a user's value kept, a failed numeric check →
// OpenBLAS's own), the numeric check on this machine's BLAS, the choice through
// the real `dmoe` re-execution, and the precision setting's resolution.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "runtime/blas_core.h"
#include "runtime/device.h"
#include "runtime/process_environment.h"
#include "util/error.h"

#include <QtTest>
#include <cstdlib>
#include <optional>
#include <vector>

#include "test_support.h"
#include "util/json.h"

using namespace dmoe;

namespace {

// /proc/cpuinfo of a first processor (and the start of a second, which must not count).
std::string cpuinfo(const std::string& vendor, const std::string& flags) {
  return "processor\t: 0\nvendor_id\t: " + vendor + "\nmodel name\t: Test CPU\nflags\t\t: " + flags +
         "\n\nprocessor\t: 1\nvendor_id\t: " + vendor + "\nflags\t\t: fpu avx512f avx512bw avx512vl avx512dq avx512cd\n";
}

const std::string kSse = "fpu sse sse2 pni ssse3 sse4_1 sse4_2";
const std::string kAvx2 = kSse + " avx fma avx2";
const std::string kAvx512 = kAvx2 + " avx512f avx512dq avx512cd avx512bw avx512vl";
const std::string kSapphireRapids = kAvx512 + " avx512_bf16 amx_bf16 amx_tile amx_int8";

BlasCoreEnvironment reported(const std::string& core) {
  BlasCoreEnvironment e;
  e.reported = core;
  return e;
}

void setEnv(const char* name, const char* value) {
  if (value) ::setenv(name, value, 1);
  else ::unsetenv(name);
}

// Restores the choice's environment variables when a test ends, passed or not.
struct BlasEnvironmentGuard {
  ~BlasEnvironmentGuard() {
    for (const char* name : {kOpenBlasCoreVar, kChosenCoreVar, kRejectedCoreVar}) ::unsetenv(name);
  }
};

// Restores the allocator variables a test changes when it ends, passed or not.
struct MallocEnvironmentGuard {
  static constexpr const char* kNames[] = {"GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "MALLOC_MMAP_MAX_"};
  std::vector<std::optional<std::string>> saved;
  MallocEnvironmentGuard() {
    for (const char* name : kNames) {
      const char* value = std::getenv(name);
      saved.push_back(value ? std::optional<std::string>(value) : std::nullopt);
    }
  }
  ~MallocEnvironmentGuard() {
    for (std::size_t i = 0; i < saved.size(); ++i) setEnv(kNames[i], saved[i] ? saved[i]->c_str() : nullptr);
  }
};

}  // namespace

class TestRuntime : public QObject {
  Q_OBJECT
 private slots:
  void cpuinfoReadsTheFirstProcessor() {
    CpuFeatures cpu = parseCpuinfo(cpuinfo("GenuineIntel", kAvx2));
    QCOMPARE(cpu.vendor, std::string("GenuineIntel"));
    QCOMPARE(cpu.model, std::string("Test CPU"));
    QVERIFY(cpu.has("avx2") && cpu.has("fma"));
    QVERIFY(!cpu.has("avx512f"));  // only processor 1 has it
    QVERIFY(!cpu.hasBf16Units());
    QVERIFY(parseCpuinfo(cpuinfo("GenuineIntel", kSapphireRapids)).hasBf16Units());
  }

  void bestCoreFollowsTheFlags() {
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("GenuineIntel", kSapphireRapids))), std::string("COOPERLAKE"));
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("GenuineIntel", kAvx512))), std::string("SKYLAKEX"));
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("GenuineIntel", kAvx2))), std::string("HASWELL"));
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("AuthenticAMD", kAvx2))), std::string("ZEN"));
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("GenuineIntel", kSse + " avx"))), std::string("SANDYBRIDGE"));
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("GenuineIntel", kSse))), std::string(""));
    // AVX-512 needs all five subsets the SkylakeX kernels use.
    QCOMPARE(bestOpenBlasCore(parseCpuinfo(cpuinfo("GenuineIntel", kAvx2 + " avx512f avx512cd"))), std::string("HASWELL"));
    QCOMPARE(openBlasCoreLevel("Prescott"), 0);
    QCOMPARE(openBlasCoreLevel("SkylakeX"), openBlasCoreLevel("SKYLAKEX"));
    QCOMPARE(openBlasCoreLevel("Zen"), openBlasCoreLevel("Haswell"));
    QCOMPARE(openBlasCoreLevel("NoSuchCore"), -1);
  }

  void genericCoreIsUpgradedToTheBestAllowed() {
    // The machine: Sapphire Rapids, OpenBLAS 0.3.21 falls back to Prescott.
    BlasCoreDecision d = decideBlasCore(reported("Prescott"), parseCpuinfo(cpuinfo("GenuineIntel", kSapphireRapids)));
    QCOMPARE(d.action, BlasCoreAction::choose);
    QCOMPARE(d.core, std::string("COOPERLAKE"));
    QVERIFY(d.origin.find("Prescott") != std::string::npos);
    d = decideBlasCore(reported("Haswell"), parseCpuinfo(cpuinfo("GenuineIntel", kAvx512)));
    QCOMPARE(d.action, BlasCoreAction::choose);
    QCOMPARE(d.core, std::string("SKYLAKEX"));
  }

  void aCoreAsGoodAsTheFlagsAllowIsKept() {
    QCOMPARE(decideBlasCore(reported("Zen"), parseCpuinfo(cpuinfo("AuthenticAMD", kAvx2))).action, BlasCoreAction::keep);
    QCOMPARE(decideBlasCore(reported("SkylakeX"), parseCpuinfo(cpuinfo("GenuineIntel", kAvx512))).action,
             BlasCoreAction::keep);
    // A core newer than this table knows, and a CPU with nothing better: kept.
    QCOMPARE(decideBlasCore(reported("FutureLake"), parseCpuinfo(cpuinfo("GenuineIntel", kAvx512))).action,
             BlasCoreAction::keep);
    QCOMPARE(decideBlasCore(reported("Prescott"), parseCpuinfo(cpuinfo("GenuineIntel", kSse))).action,
             BlasCoreAction::keep);
    // Not OpenBLAS: nothing to choose.
    QCOMPARE(decideBlasCore(reported(""), parseCpuinfo(cpuinfo("GenuineIntel", kAvx512))).action, BlasCoreAction::keep);
  }

  void aValueTheUserOrMachineSetIsNeverOverridden() {
    BlasCoreEnvironment e = reported("Prescott");
    e.coretype = "PRESCOTT";  // set by hand, e.g. against a kernel bug
    BlasCoreDecision d = decideBlasCore(e, parseCpuinfo(cpuinfo("GenuineIntel", kSapphireRapids)));
    QCOMPARE(d.action, BlasCoreAction::keep);
    QVERIFY(d.origin.find("OPENBLAS_CORETYPE=PRESCOTT") != std::string::npos);
    e.chosen = "COOPERLAKE";  // a marker that does not match the value: still the user's
    QCOMPARE(decideBlasCore(e, parseCpuinfo(cpuinfo("GenuineIntel", kSapphireRapids))).action, BlasCoreAction::keep);
  }

  void dmoesOwnChoiceIsVerifiedAndAFailureFallsBack() {
    BlasEnvironmentGuard guard;
    const CpuFeatures cpu = parseCpuinfo(cpuinfo("GenuineIntel", kSapphireRapids));
    BlasCoreEnvironment e = reported("Cooperlake");
    e.coretype = e.chosen = "COOPERLAKE";
    BlasCoreDecision d = decideBlasCore(e, cpu);
    QCOMPARE(d.action, BlasCoreAction::verify);
    QCOMPARE(d.core, std::string("COOPERLAKE"));

    // The check failed: prepareProcessEnvironment rejects the choice and restarts;
    // the restarted process sees this environment and keeps OpenBLAS's own choice.
    setEnv(kOpenBlasCoreVar, "COOPERLAKE");
    setEnv(kChosenCoreVar, "COOPERLAKE");
    rejectChosenCore("COOPERLAKE");
    BlasCoreEnvironment after = BlasCoreEnvironment::current();
    QVERIFY(!after.coretype && !after.chosen);
    QCOMPARE(after.rejected.value_or(""), std::string("COOPERLAKE"));
    after.reported = "Prescott";
    d = decideBlasCore(after, cpu);
    QCOMPARE(d.action, BlasCoreAction::keep);  // not chosen again: no restart loop
    QVERIFY(d.origin.find("COOPERLAKE failed its check") != std::string::npos);
  }

  void thisMachinesBlasPassesTheNumericCheck() {
    if (loadedOpenBlasCore().empty()) QSKIP("the BLAS is not OpenBLAS");
    BlasCheck check = checkBlasProducts();
    qInfo("loaded BLAS core %s: max relative error %.3g (tolerance %.0e)", loadedOpenBlasCore().c_str(),
          check.maxRelativeError, kBlasCheckTolerance);
    QVERIFY(check.passed);
    QVERIFY(check.maxRelativeError > 0);  // fp32 sums differ from double: the comparison really ran
    QVERIFY(check.maxRelativeError < 1e-6);
  }

  void dmoeInfoReportsWhoChoseTheCore() {
    if (loadedOpenBlasCore().empty()) QSKIP("the BLAS is not OpenBLAS");
    if (!currentCpuFeatures().has("avx")) QSKIP("the test forces the AVX kernels (SANDYBRIDGE)");
    BlasEnvironmentGuard guard;
    // A user's value, through the real start-up of `dmoe`.
    setEnv(kOpenBlasCoreVar, "PRESCOTT");
    test::CliResult r = test::runCli({"--events", "jsonl", "info", "--quick"});
    QCOMPARE(r.exitCode, 0);
    Json runtime = Json::parse(r.out.substr(0, r.out.find('\n')))["data"];
    QCOMPARE(runtime["blas_core"].get<std::string>(), std::string("Prescott"));
    QVERIFY(runtime["blas_core_origin"].get<std::string>().find("set in the environment") != std::string::npos);
    // dmoe's own choice (as after its re-execution), verified on start and kept: a core
    // below what this CPU supports is always safe to run.
    setEnv(kOpenBlasCoreVar, "SANDYBRIDGE");
    setEnv(kChosenCoreVar, "SANDYBRIDGE");
    r = test::runCli({"--events", "jsonl", "info", "--quick"});
    QCOMPARE(r.exitCode, 0);
    runtime = Json::parse(r.out.substr(0, r.out.find('\n')))["data"];
    QCOMPARE(runtime["blas_core"].get<std::string>(), std::string("Sandybridge"));
    QVERIFY(runtime["blas_core_origin"].get<std::string>().find("chosen by dmoe") != std::string::npos);
    // A choice this OpenBLAS cannot load (0.3.21 has no SapphireRapids core and
    // silently runs Haswell instead): rejected at start-up, OpenBLAS's own used.
    if (!currentCpuFeatures().has("avx512f")) {
      setEnv(kOpenBlasCoreVar, "SAPPHIRERAPIDS");
      setEnv(kChosenCoreVar, "SAPPHIRERAPIDS");
      r = test::runCli({"--events", "jsonl", "info", "--quick"});
      QCOMPARE(r.exitCode, 0);
      QVERIFY2(r.err.find("did not load core SAPPHIRERAPIDS") != std::string::npos, r.err.c_str());
      runtime = Json::parse(r.out.substr(0, r.out.find('\n')))["data"];
      QCOMPARE(runtime["blas_core"].get<std::string>(), loadedOpenBlasCore());  // this process: OpenBLAS's own
      QVERIFY2(runtime["blas_core_origin"].get<std::string>().find("SAPPHIRERAPIDS failed its check") != std::string::npos,
               runtime["blas_core_origin"].get<std::string>().c_str());
    }
    setEnv(kOpenBlasCoreVar, nullptr);
    setEnv(kChosenCoreVar, nullptr);
    // The measurement: a positive GFLOP/s in both precisions.
    r = test::runCli({"--events", "jsonl", "info"});
    QCOMPARE(r.exitCode, 0);
    runtime = Json::parse(r.out.substr(0, r.out.find('\n')))["data"];
    QVERIFY(runtime["matmul_1024_gflops"]["fp32"].get<double>() > 0);
    QVERIFY(runtime["matmul_1024_gflops"]["bf16"].get<double>() > 0);
  }

  // dmoe's allocator settings apply only where the user set none, and `dmoe info` says whose they are.
  void mallocSettingsAreTheUsersWhenSet() {
    MallocEnvironmentGuard guard;
    for (const char* name : MallocEnvironmentGuard::kNames) setEnv(name, nullptr);
    QVERIFY2(!mallocTunedByUser(), "run the suite without glibc's MALLOC_ variables");
    QCOMPARE(allocatorSettings(), std::string("glibc's defaults"));
    setEnv("MALLOC_ARENA_MAX", "2");  // glibc's names: some end in _, some do not
    QVERIFY(mallocTunedByUser());
    QCOMPARE(allocatorSettings(), std::string("glibc's MALLOC_ variables set in the environment"));
    setEnv("MALLOC_ARENA_MAX", nullptr);
    setEnv("MALLOC_MMAP_MAX_", "0");
    QVERIFY(mallocTunedByUser());
    setEnv("MALLOC_MMAP_MAX_", nullptr);
    // Through the real start-up of `dmoe`: its own setting, then the user's kept.
    test::CliResult r = test::runCli({"--events", "jsonl", "info", "--quick"});
    QCOMPARE(r.exitCode, 0);
    Json runtime = Json::parse(r.out.substr(0, r.out.find('\n')))["data"];
    QCOMPARE(runtime["allocator"].get<std::string>(), "GLIBC_TUNABLES=" + std::string(kMallocTunables) + " (dmoe's setting)");
    setEnv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2");
    r = test::runCli({"--events", "jsonl", "info", "--quick"});
    QCOMPARE(r.exitCode, 0);
    runtime = Json::parse(r.out.substr(0, r.out.find('\n')))["data"];
    QCOMPARE(runtime["allocator"].get<std::string>(), std::string("GLIBC_TUNABLES=glibc.malloc.arena_max=2 (set in the environment)"));
  }

  void precisionResolvesPerDevice() {
    configurePrecision("fp32", "cpu");
    QVERIFY(!computesInBf16("cpu") && !computesInBf16("cuda:0"));
    QCOMPARE(computePrecisionTag(), std::string(""));
    configurePrecision("bf16", "cpu");
    QVERIFY(computesInBf16("cpu") && computesInBf16("cuda:0"));
    QCOMPARE(computePrecisionTag(), std::string("bf16"));
    configurePrecision("auto", "cpu");
    QCOMPARE(computesInBf16("cpu"), currentCpuFeatures().hasBf16Units());
    QVERIFY(computesInBf16("cuda:0"));
    configurePrecision("auto", "cuda:0");
    QCOMPARE(computePrecisionTag(), std::string("bf16"));
    QVERIFY_THROWS_EXCEPTION(InputError, configurePrecision("fp16", "cpu"));
    configurePrecision("fp32", "cpu");
  }

  // 16 bytes a parameter against the kernel's MemAvailable; unknown (CUDA) passes.
  void trainingMemoryIsCheckedBeforeAllocating() {
    const std::int64_t available = availableMemoryBytes("cpu");
    QVERIFY2(available > 0, "MemAvailable read from /proc/meminfo");
    QVERIFY(availableMemoryBytes("cuda:0") < 0);
    checkTrainingMemory(available / 32, "cpu", "half of it");  // fits
    const std::string error = test::inputErrorOf([&] { checkTrainingMemory(available / 8, "cpu", "the model"); });
    QVERIFY2(error.rfind("the model: a model of " + std::to_string(available / 8) + " parameters needs at least ", 0) == 0 &&
                 error.find("available: make the model smaller") != std::string::npos,
             error.c_str());
    checkTrainingMemory(available, "cuda:0", "not known there");
  }
};

QTEST_GUILESS_MAIN(TestRuntime)
#include "test_runtime.moc"
