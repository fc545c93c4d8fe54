"""Test doubles for LLM providers: a scripted fake chat model and an OpenAI-compatible server."""
