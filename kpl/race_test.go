//go:build race

package kpl_test

const raceEnabled = true
