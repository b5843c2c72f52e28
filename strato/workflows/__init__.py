"""One operation per module. Imports only domain/, temporalio and activity names."""
