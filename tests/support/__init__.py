"""Test tooling: a tiny random BERT, fault-injection encoders, an HTTP client and a load generator."""
