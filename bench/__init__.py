"""Benchmarks of trio_groqstream against the official groq SDK and the floor; see README.md."""
