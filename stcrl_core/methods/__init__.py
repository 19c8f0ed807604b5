"""The methods: ST-CRL, supervised and untrained baselines (and, later, triplet, CSP, experts)."""
