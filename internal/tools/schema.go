package tools

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
)

// seedTools is the reference server's tools/list (names, descriptions and
// schemas), kept verbatim so our input schemas are exactly the reference's.
//
//go:embed schemas/seed-tools.json
var seedTools []byte

// ourTools are the definitions of the tools the reference does not have,
// in the same form.
//
//go:embed schemas/our-tools.json
var ourTools []byte

type seedTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema"`
}

// seed holds the definitions by name, the reference's and ours; parsed
// once at start-up.
var seed = mustParseSeed(seedTools, ourTools)

func mustParseSeed(files ...[]byte) map[string]seedTool {
	m := map[string]seedTool{}
	for _, b := range files {
		var list []seedTool
		if err := json.Unmarshal(b, &list); err != nil {
			panic(fmt.Sprintf("tools: embedded tool definitions: %v", err))
		}
		for _, t := range list {
			if _, dup := m[t.Name]; dup {
				panic("tools: tool defined twice: " + t.Name)
			}
			m[t.Name] = t
		}
	}
	return m
}

// inputSchema returns the reference input schema of a tool, byte for byte.
func inputSchema(name string) json.RawMessage {
	t, ok := seed[name]
	if !ok {
		panic("tools: no seed definition for " + name)
	}
	return t.InputSchema
}

// outputSchema returns the reference output schema with our two deliberate
// changes: no multipleOf on amounts (float validators reject 19.99 against
// 0.01), and url described as the plain payment URL it is.
func outputSchema(name string) json.RawMessage {
	t, ok := seed[name]
	if !ok {
		panic("tools: no seed definition for " + name)
	}
	var s map[string]any
	if err := json.Unmarshal(t.OutputSchema, &s); err != nil {
		panic(fmt.Sprintf("tools: output schema of %s: %v", name, err))
	}
	props, _ := s["properties"].(map[string]any)
	for key, p := range props {
		prop, _ := p.(map[string]any)
		delete(prop, "multipleOf")
		if key == "url" {
			prop["description"] = "支付链接本身 (纯 URL); 带 Markdown 链接的文本在结果的文本内容中。" +
				"The plain payment URL; the text content of the result carries it as a Markdown link to insert into the conversation."
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// field is what the validator knows about one input property, read from the
// input schema itself so schema and validation cannot drift apart.
type field struct {
	Name      string
	Type      string // "string", "number" (an amount) or "integer"
	MaxLength int    // in characters; 0 = none
	Required  bool
	Min, Max  int64 // the range of an integer
}

// fieldsOf reads the properties of a tool's input schema, in the order
// schemaProps gives them, the order the README lists them in.
func fieldsOf(name string) []field {
	var s struct {
		AdditionalProperties *bool `json:"additionalProperties"`
	}
	schema := inputSchema(name)
	if err := json.Unmarshal(schema, &s); err != nil {
		panic(fmt.Sprintf("tools: input schema of %s: %v", name, err))
	}
	if s.AdditionalProperties == nil || *s.AdditionalProperties {
		panic("tools: input schema of " + name + " must forbid additional properties")
	}
	var out []field
	for _, p := range schemaProps(schema) {
		f := field{Name: p.name, Type: p.Type, MaxLength: p.MaxLength, Required: p.required}
		switch p.Type {
		case "string", "number":
		case "integer":
			if p.Minimum == nil || p.Maximum == nil {
				panic(fmt.Sprintf("tools: %s.%s: an integer needs minimum and maximum", name, p.name))
			}
			f.Min, f.Max = int64(*p.Minimum), int64(*p.Maximum)
		default:
			panic(fmt.Sprintf("tools: %s.%s has type %q; the validator knows string, number and integer", name, p.name, p.Type))
		}
		out = append(out, f)
	}
	return out
}

// prop is one property of a schema, as validation and the README need it.
type prop struct {
	name        string
	required    bool
	Type        string   `json:"type"`
	Description string   `json:"description"`
	MaxLength   int      `json:"maxLength"`
	Minimum     *float64 `json:"minimum"`
	Maximum     *float64 `json:"maximum"`
	Format      string   `json:"format"`
	Enum        []string `json:"enum"`
}

// schemaProps lists a schema's properties, required ones first in their
// declared order, then the optional ones by name.
func schemaProps(schema any) []prop {
	raw, _ := schema.(json.RawMessage)
	var s struct {
		Properties map[string]prop `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		panic(fmt.Sprintf("tools: schema: %v", err))
	}
	var out []prop
	seen := map[string]bool{}
	for _, r := range s.Required {
		p := s.Properties[r]
		p.name, p.required = r, true
		out = append(out, p)
		seen[r] = true
	}
	var rest []string
	for k := range s.Properties {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		p := s.Properties[k]
		p.name = k
		out = append(out, p)
	}
	return out
}
