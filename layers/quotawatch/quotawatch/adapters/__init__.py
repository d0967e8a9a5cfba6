"""Adapters at the edges: HTTP, Secrets Manager, DynamoDB, SNS, clock."""
