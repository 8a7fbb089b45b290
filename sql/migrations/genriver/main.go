// Command genriver renders River's migrations into golang-migrate files in
// the current directory (sql/migrations, via `go generate`). Re-running it is
// safe: a River version that already has a file keeps its number and gets its
// content rewritten; a River version new to this directory gets the next free
// number after every existing migration, so the sequence only ever grows.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/bespin/bespin/sql/migrations"
)

var nameRE = regexp.MustCompile(`^(\d+)_(.+)\.(up|down)\.sql$`)
var riverRE = regexp.MustCompile(`^river_(\d{3})_`)

func main() {
	if err := run("."); err != nil {
		fmt.Fprintf(os.Stderr, "genriver: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var maxNumber uint64
	numberOf := map[int]uint64{}   // river version -> golang-migrate number
	oldNames := map[int][]string{} // river version -> existing file names
	for _, e := range entries {
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		maxNumber = max(maxNumber, n)
		if rm := riverRE.FindStringSubmatch(m[2]); rm != nil {
			v, _ := strconv.Atoi(rm[1])
			numberOf[v] = n
			oldNames[v] = append(oldNames[v], e.Name())
		}
	}

	files, err := migrations.RiverFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		n, ok := numberOf[f.RiverVersion]
		if !ok {
			maxNumber++
			n = maxNumber
		}
		for _, old := range oldNames[f.RiverVersion] {
			if err := os.Remove(filepath.Join(dir, old)); err != nil {
				return err
			}
		}
		base := fmt.Sprintf("%06d_%s", n, f.Label)
		if err := os.WriteFile(filepath.Join(dir, base+".up.sql"), []byte(f.Up), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, base+".down.sql"), []byte(f.Down), 0o644); err != nil {
			return err
		}
		if !ok {
			fmt.Printf("genriver: added River migration %03d as %s\n", f.RiverVersion, base)
		}
	}
	return nil
}
