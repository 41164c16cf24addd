package app

import (
	"fmt"

	"mlbox/internal/tomltable"
	"mlbox/store"
)

// RegistryConfig is the [registry] table.
type RegistryConfig struct {
	// Gates are promotion gates from the config file, checked in addition
	// to the ones set per model through the API (docs/registry.md).
	Gates ConfigGates `koanf:"gates"`
}

// ConfigGate is one [[registry.gates]] entry: a gate rule and the model it
// guards ("*" for every model).
type ConfigGate struct {
	Model string `json:"model"`
	store.GateRule
}

// ConfigGates is the [[registry.gates]] array of tables.
type ConfigGates []ConfigGate

// DecodeTOML reads the parsed TOML array.
func (g *ConfigGates) DecodeTOML(v any) error {
	gates, err := tomltable.Decode[ConfigGate](v, "[[registry.gates]]")
	if err != nil {
		return err
	}
	*g = gates
	return nil
}

// EncodeTOML renders the gates as an array of inline tables.
func (g ConfigGates) EncodeTOML() string { return tomltable.Encode(g) }

// Validate returns one problem per bad entry, naming it.
func (g ConfigGates) Validate() []string {
	var p []string
	for i := range g {
		e := &g[i]
		key := fmt.Sprintf("registry.gates[%d]", i+1)
		if e.Model == "" {
			p = append(p, key+`: "model" is required (a registered model name, or "*" for all)`)
		}
		if err := e.GateRule.Validate(); err != nil {
			p = append(p, key+": "+err.Error())
		}
	}
	return p
}

// byModel groups the rules for store.SetConfigGates.
func (g ConfigGates) byModel() map[string][]store.GateRule {
	out := map[string][]store.GateRule{}
	for _, e := range g {
		out[e.Model] = append(out[e.Model], e.GateRule)
	}
	return out
}
