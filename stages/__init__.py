"""DVC stage entry points: one module per stage, each a thin `main()` over the library."""
