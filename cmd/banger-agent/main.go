// Command banger-agent is banger's guest agent, PID 1 in every VM; see
// package agent.
package main

import (
	"os"

	"github.com/bangerdev/banger/internal/agent"
)

func main() { os.Exit(agent.Main(os.Args)) }
