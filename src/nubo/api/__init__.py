"""The shared HTTP framework every nubo service is served by."""
