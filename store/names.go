package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
)

// newRunID returns 32 lowercase hex chars, like uuid4().hex.
func newRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

var (
	nameAdjectives = []string{"able", "bold", "brave", "bright", "calm", "clean", "clever", "crisp", "daring", "eager",
		"fair", "fast", "gentle", "glad", "grand", "honest", "keen", "kind", "lively", "lucky",
		"merry", "neat", "nimble", "noble", "polite", "proud", "quick", "quiet", "rare", "sharp",
		"shy", "silent", "smooth", "steady", "sunny", "swift", "tidy", "vast", "warm", "wise"}
	nameAnimals = []string{"ant", "bat", "bear", "bee", "bird", "boar", "carp", "cat", "colt", "crab",
		"crow", "deer", "doe", "dove", "eel", "elk", "finch", "fox", "frog", "goat",
		"hare", "hawk", "hen", "ibis", "jay", "koi", "lamb", "lark", "lynx", "mole",
		"moth", "newt", "owl", "ox", "pig", "ram", "seal", "shrew", "slug", "snail",
		"swan", "toad", "trout", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra"}
)

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}

// generateRunName returns a name like MLflow's "adjective-animal-NNN".
func generateRunName() string {
	return fmt.Sprintf("%s-%s-%d", nameAdjectives[randInt(len(nameAdjectives))], nameAnimals[randInt(len(nameAnimals))], randInt(1000))
}
