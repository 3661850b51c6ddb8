package main

// isHelp reports whether arg asks for a command's help text.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help" }
