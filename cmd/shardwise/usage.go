package main

import "errors"

// errCLIUsage marks a command-line mistake; the usage text has already been printed.
var errCLIUsage = errors.New("invalid usage")
