#include "gui_test_support.h"

#include <QCoreApplication>
#include <QLocale>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QWidget>

#include "test_support.h"

namespace dmoe::test {

void useScratchSettings(const char* applicationName) {
  static QTemporaryDir settingsDir;
  QStandardPaths::setTestModeEnabled(true);
  QCoreApplication::setOrganizationName("DMoE-tests");
  QCoreApplication::setApplicationName(applicationName);
  QSettings::setDefaultFormat(QSettings::IniFormat);
  QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir.path());
  QSettings().clear();
  QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
}

bool saveScreenshot(QWidget& widget, const char* name) {
  QCoreApplication::processEvents();
  return widget.grab().save(QString::fromStdString((outputDir() / name).string()));
}

}  // namespace dmoe::test
