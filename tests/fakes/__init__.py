"""In-memory fakes of AWS clients, for tests that need more speed than moto gives."""
