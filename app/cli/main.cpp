// dmoe — the headless DMoE Workbench. A thin shell over dmoe_core: it parses
// arguments, picks the event sink, runs one command, and maps the outcome to
// the exit code (0 ok, 1 failed, 2 bad usage or bad input, 128 + signal
// cancelled by SIGINT / SIGTERM).
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli_context.h"
#include "events/stream_sinks.h"
#include "pipeline/stage_catalog.h"
#include "runtime/cancellation.h"
#include "runtime/distributed.h"
#include "runtime/process_environment.h"
#include "util/error.h"

namespace dmoe::cli {

std::ostream& CliContext::out() {
  static std::ostream null(nullptr);
  return jsonl() || jobRank() != 0 ? null : std::cout;  // rank 0 reports a job
}

LockedRunsFolder lockRunsFolder(const std::filesystem::path& runsDir) {
  std::unique_ptr<RunsFolderLock> lock;
  runOnMain("taking the lock of " + runsDir.string(), [&] { lock = std::make_unique<RunsFolderLock>(runsDir); });
  return LockedRunsFolder(std::move(lock));
}

void checkCommandRunsInJob(const std::string& command) {
  if (jobSize() <= 1 || commandRunsInJob(command)) return;
  throw InputError("`dmoe " + command + "` does not run in a torchrun job (WORLD_SIZE " + std::to_string(jobSize()) +
                   "): only `dmoe run` and the stage commands split over processes; run it as one process");
}

}  // namespace dmoe::cli

int main(int argc, char** argv) {
  using namespace dmoe;
  prepareProcessEnvironment(argv);
  installCancelSignalHandlers();
  // Under torchrun: join the job first (every process runs the same command line).
  try {
    joinJob(readLaunchEnvironment([](const char* name) { return std::getenv(name); }));
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  if (jobSize() > 1) installCancelSignalHandlers(/*oneShot=*/false);
  struct Leave {
    bool succeeded = false;  // a failed process does not wait for the others: they learn it from the store
    ~Leave() { leaveJob(succeeded); }
  } leave;
  cli::CliContext ctx;
  CLI::App app{"dmoe — grow a multilingual LM into a language-group mixture of experts (headless DMoE Workbench)",
               "dmoe"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", "dmoe 0.1.0");
  app.add_option("--events", ctx.events, "How to report progress: text (for people) or jsonl (one JSON event per line on stdout, for the GUI)")
      ->check(CLI::IsMember({"text", "jsonl"}));
  app.footer(
      "Exit codes: 0 ok, 1 failed, 2 bad usage or bad input, 130 / 143 cancelled by SIGINT / SIGTERM (128 + signal; "
      "training saves a checkpoint first, a re-run resumes from it).\nEvents: see docs/events.md.");
  app.parse_complete_callback([&] {
    if (jobRank() != 0)
      ctx.sink = std::make_unique<OtherRankSink>(std::cerr, jobRank());  // rank 0 reports the job
    else if (ctx.jsonl())
      ctx.sink = std::make_unique<JsonLinesSink>(std::cout);
    else
      ctx.sink = std::make_unique<TerminalSink>(std::cerr, ::isatty(2));
    ctx.clock.emplace(*ctx.sink, "dmoe");
    for (const CLI::App* command : app.get_subcommands()) cli::checkCommandRunsInJob(command->get_name());
  });

  cli::addInfoCommand(app, ctx);
  cli::addRunCommand(app, ctx);
  cli::addSweepCommand(app, ctx);
  cli::addProjectCommands(app, ctx);
  cli::addInspectCommand(app, ctx);
  cli::addCorpusCommands(app, ctx);
  cli::addTokenizerCommands(app, ctx);
  cli::addTrainCommands(app, ctx);
  cli::addStageCommands(app, ctx);
  cli::addProbeCommand(app, ctx);
  cli::addRoutingCommand(app, ctx);
  cli::addExportCommand(app, ctx);
  cli::addParityCommand(app, ctx);

  try {
    app.parse(argc, argv);
    leave.succeeded = true;
    return 0;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const Cancelled&) {
    const std::string message = "cancelled by signal " + std::to_string(cancelSignal());
    if (ctx.sink) ctx.reporter("dmoe").log(message);
    else std::cerr << message << '\n';
    return 128 + cancelSignal();
  } catch (const ValidationError& e) {
    if (ctx.sink) ctx.reporter("dmoe").error(e.what(), e.problems());
    else std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const InputError& e) {
    if (ctx.sink) ctx.reporter("dmoe").error(e.what());
    else std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const DistributedError& e) {
    // The job is broken: report and end now. The process group's destructor
    // would wait out every collective still queued against the dead or hung
    // process (a timeout each), and leaving would wait for processes that never come.
    if (ctx.sink) ctx.reporter("dmoe").error(e.what());
    else std::cerr << "error: " << e.what() << '\n';
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(1);
  } catch (const std::exception& e) {
    if (ctx.sink) ctx.reporter("dmoe").error(e.what());
    else std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
