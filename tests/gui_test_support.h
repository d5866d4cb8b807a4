// Set-up shared by the GUI test suites (linked only into them: it needs Qt Widgets).
#pragma once

class QWidget;

namespace dmoe::test {

// Settings (recent projects, window layout) go to a scratch folder that lives
// as long as the process, never the user's; English number formatting, so
// expected texts do not depend on the machine's locale. Call in initTestCase().
void useScratchSettings(const char* applicationName);

// Lets pending layouts settle (chart legends lay out in the event loop), then
// saves `widget` as DMOE_TEST_OUTPUT/<name>. Returns false when the file could not be written.
bool saveScreenshot(QWidget& widget, const char* name);

}  // namespace dmoe::test
