"""HTTP layer: thin routes that parse, authorise, call a service and shape the response."""
