// Command quantity-vectors produces crates/core/tests/data/quantity_vectors.json:
// what Kubernetes' own resource.Quantity answers for the inputs in cases.json,
// so that the Rust port (crates/core/src/quantity.rs) can be checked against
// it without Go in CI (crates/core/tests/quantity_vectors.rs replays them).
//
// Regenerate (needs the Go toolchain and the Go module proxy):
//
//	cd hack/quantity-vectors && GOFLAGS=-mod=mod go run .
//
// cases.json holds the inputs only:
//
//   - "parse": strings given to ParseQuantity. For each, either Go's error
//     message, or the Format, String() (the remembered text wins),
//     CanonicalizeBytes, RoundUp(Milli) then MarshalJSON (what defaulting
//     stores), MilliValue() and Value(), each on its own copy of the parsed
//     quantity.
//   - "arithmetic": pairs [a, b]. a.Add(b) with its String() and Format,
//     a.Cmp(b), a.Neg() with its String() and MilliValue(), and a.Add(-b)
//     (how Kruise's resources calculator subtracts).
//   - "constructors": {value, format}: NewMilliQuantity(value, format) and
//     NewQuantity(value, format), each printed with String().
//
// Version: k8s.io/apimachinery v0.32.10, the one OpenKruise v1.9.1 builds with
// (hack/kruise-harness/go.mod).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

type cases struct {
	Parse        []string          `json:"parse"`
	Arithmetic   [][2]string       `json:"arithmetic"`
	Constructors []constructorCase `json:"constructors"`
}

type constructorCase struct {
	Value  int64           `json:"value"`
	Format resource.Format `json:"format"`
}

// parseVector has either Error or the five answers.
type parseVector struct {
	Input      string          `json:"input"`
	Error      string          `json:"error,omitempty"`
	Format     resource.Format `json:"format,omitempty"`
	String     string          `json:"string,omitempty"`
	Canonical  string          `json:"canonical,omitempty"`
	Normalized string          `json:"normalized,omitempty"`
	MilliValue *int64          `json:"milliValue,omitempty"`
	Value      *int64          `json:"value,omitempty"`
}

type arithmeticVector struct {
	A              string          `json:"a"`
	B              string          `json:"b"`
	Sum            string          `json:"sum"`
	SumFormat      resource.Format `json:"sumFormat"`
	Cmp            int             `json:"cmp"`
	NegA           string          `json:"negA"`
	NegAMilliValue int64           `json:"negAMilliValue"`
	Difference     string          `json:"difference"`
}

type constructorVector struct {
	Value  int64           `json:"value"`
	Format resource.Format `json:"format"`
	Milli  string          `json:"milli"`
	Plain  string          `json:"plain"`
}

type vectors struct {
	Parse        []parseVector       `json:"parse"`
	Arithmetic   []arithmeticVector  `json:"arithmetic"`
	Constructors []constructorVector `json:"constructors"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "quantity-vectors: "+format+"\n", args...)
	os.Exit(1)
}

func parse(input string) parseVector {
	q, err := resource.ParseQuantity(input)
	if err != nil {
		return parseVector{Input: input, Error: err.Error()}
	}
	str, canon, norm := q.DeepCopy(), q.DeepCopy(), q.DeepCopy()
	number, suffix := canon.CanonicalizeBytes(nil)
	norm.RoundUp(resource.Milli)
	marshalled, err := norm.MarshalJSON()
	if err != nil {
		fail("%q: MarshalJSON: %v", input, err)
	}
	normalized, err := strconv.Unquote(string(marshalled))
	if err != nil {
		fail("%q: MarshalJSON gave %s: %v", input, marshalled, err)
	}
	milli, value := q.DeepCopy(), q.DeepCopy()
	milliValue, plainValue := milli.MilliValue(), value.Value()
	return parseVector{
		Input:      input,
		Format:     q.Format,
		String:     str.String(),
		Canonical:  string(number) + string(suffix),
		Normalized: normalized,
		MilliValue: &milliValue,
		Value:      &plainValue,
	}
}

func mustParse(input string) resource.Quantity {
	q, err := resource.ParseQuantity(input)
	if err != nil {
		fail("arithmetic operand %q: %v", input, err)
	}
	return q
}

func arithmetic(a, b string) arithmeticVector {
	qa, qb := mustParse(a), mustParse(b)
	sum := qa.DeepCopy()
	sum.Add(qb)
	neg := qa.DeepCopy()
	neg.Neg()
	negB := qb.DeepCopy()
	negB.Neg()
	diff := qa.DeepCopy()
	diff.Add(negB)
	return arithmeticVector{
		A:              a,
		B:              b,
		Sum:            sum.String(),
		SumFormat:      sum.Format,
		Cmp:            qa.Cmp(qb),
		NegA:           neg.String(),
		NegAMilliValue: neg.MilliValue(),
		Difference:     diff.String(),
	}
}

func constructor(c constructorCase) constructorVector {
	switch c.Format {
	case resource.DecimalExponent, resource.BinarySI, resource.DecimalSI:
	default:
		fail("constructor %d: unknown format %q", c.Value, c.Format)
	}
	return constructorVector{
		Value:  c.Value,
		Format: c.Format,
		Milli:  resource.NewMilliQuantity(c.Value, c.Format).String(),
		Plain:  resource.NewQuantity(c.Value, c.Format).String(),
	}
}

func main() {
	raw, err := os.ReadFile("cases.json")
	if err != nil {
		fail("%v", err)
	}
	var in cases
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fail("cases.json: %v", err)
	}

	var out vectors
	seen := map[string]bool{}
	for _, input := range in.Parse {
		if seen[input] {
			fail("duplicate parse input %q", input)
		}
		seen[input] = true
		out.Parse = append(out.Parse, parse(input))
	}
	for _, pair := range in.Arithmetic {
		out.Arithmetic = append(out.Arithmetic, arithmetic(pair[0], pair[1]))
	}
	for _, c := range in.Constructors {
		out.Constructors = append(out.Constructors, constructor(c))
	}

	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	// Keep the inputs readable in the committed file; the parsed strings are the same either way.
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(out); err != nil {
		fail("%v", err)
	}
	dest := filepath.Join("..", "..", "crates", "core", "tests", "data", "quantity_vectors.json")
	if err := os.WriteFile(dest, buf.Bytes(), 0o644); err != nil {
		fail("%v", err)
	}
	fmt.Printf("wrote %d parse, %d arithmetic and %d constructor vectors to %s\n",
		len(out.Parse), len(out.Arithmetic), len(out.Constructors), dest)
}
