"""Test doubles and scenarios shared by the SDK/loops unit and integration tests."""
