//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

import "time"

func selfCPUTime() (time.Duration, bool) { return 0, false }
