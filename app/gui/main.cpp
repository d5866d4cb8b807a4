// dmoe-workbench [project.dmoe.json] — the DMoE Workbench GUI: opens the main
// window, and the project given on the command line. All computing happens in
// the headless `dmoe` the window launches. `--screenshots DIR` saves every tab
// of the project as PNG and quits (the README's pictures; run it with
// QT_QPA_PLATFORM=offscreen on a machine without a display).
#include <QApplication>
#include <QCommandLineParser>
#include <iostream>

#include "log_dock.h"
#include "main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("DMoE");
  QApplication::setApplicationName("DMoE Workbench");
  QApplication::setApplicationVersion("0.1.0");

  QCommandLineParser parser;
  parser.setApplicationDescription(
      "DMoE Workbench: grow a multilingual language model into a language-group mixture of experts.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("project", "The project file to open (*.dmoe.json).", "[project.dmoe.json]");
  const QCommandLineOption screenshots("screenshots", "Save every tab of the project as PNG into <dir>, then quit.",
                                       "dir");
  parser.addOption(screenshots);
  parser.process(app);
  if (parser.isSet(screenshots) && parser.positionalArguments().isEmpty()) {
    std::cerr << "dmoe-workbench: --screenshots needs a project file\n";
    return 2;
  }

  dmoe::views::MainWindow window;
  if (parser.isSet(screenshots)) window.resize(1600, 960);
  window.show();
  if (!parser.positionalArguments().isEmpty()) {
    const bool opened = window.openProject(parser.positionalArguments().first());
    if (!opened && parser.isSet(screenshots)) {
      std::cerr << window.logDock().text().toStdString() << '\n';  // what the log says is wrong with the file
      return 2;
    }
  }
  if (parser.isSet(screenshots)) {
    try {
      for (const QString& file : window.saveTabScreenshots(parser.value(screenshots)))
        std::cout << file.toStdString() << '\n';
    } catch (const std::exception& e) {
      std::cerr << "dmoe-workbench: " << e.what() << '\n';
      return 1;
    }
    return 0;
  }
  return app.exec();
}
