// The load and demo generator: drives the marketplace only through its public HTTP API and SignalR hub.
Console.Error.WriteLine("usage: Marketplace.Load demo|bench|check (not built yet)");
return 2;
