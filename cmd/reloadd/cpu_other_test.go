//go:build !linux

package main

import (
	"context"
	"time"
)

func browserCPU(context.Context) time.Duration { return 0 }
