namespace Marketplace.Security.Tests;

/// <summary>Authorization, validation, fuzzing, idempotency and rate-limit tests live in this project.</summary>
internal static class SecurityTestsProject;
