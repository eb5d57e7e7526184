namespace Marketplace.Browser.Tests;

/// <summary>Browser tests of the dashboards (Playwright with the system's Chromium) live in this project.</summary>
internal static class BrowserTestsProject;
