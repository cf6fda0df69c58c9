package proto

// Signal names travel without "SIG", as RFC 4254 §6.10 spells them
// ("KILL"); numbers are Linux's (the same on x86-64 and arm64, the guests'
// architectures). Both ends read this one table, so a signal the guest
// names in exit-signal is one the host can turn back into 128+N.
var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7,
	"FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
	"ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
	"TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
	"VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
}

// SignalNumber returns the Linux number of an RFC 4254 signal name
// ("KILL"), and whether the name is known.
func SignalNumber(name string) (int, bool) {
	n, ok := signalNumbers[name]
	return n, ok
}

// SignalName returns the RFC 4254 name of Linux signal n, or "" for a
// number without one (a real-time signal).
func SignalName(n int) string {
	for name, v := range signalNumbers {
		if v == n {
			return name
		}
	}
	return ""
}
