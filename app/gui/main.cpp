// dmoe-workbench [project.dmoe.json] — the DMoE Workbench GUI: opens the main
// window, and the project given on the command line. All computing happens in
// the headless `dmoe` the window launches.
#include <QApplication>
#include <QCommandLineParser>

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
  parser.process(app);

  dmoe::views::MainWindow window;
  window.show();
  if (!parser.positionalArguments().isEmpty()) window.openProject(parser.positionalArguments().first());
  return app.exec();
}
