"""Two-cluster setups for the API-key model: the working one and each fault of the guide."""
