package compile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Cache keeps compiled modules in a directory, one file per key
// (<key>.wasm). Writes are atomic (temporary file, fsync, rename), so a
// crash never leaves a partial module under a key.
type Cache struct{ dir string }

// OpenCache creates the directory if needed.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("compile cache: %w", err)
	}
	return &Cache{dir: dir}, nil
}

func (c *Cache) path(key string) (string, error) {
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", fmt.Errorf("compile cache: bad key %q", key)
	}
	return filepath.Join(c.dir, key+".wasm"), nil
}

// Get returns the module cached under key, or ok false.
func (c *Cache) Get(key string) ([]byte, bool, error) {
	p, err := c.path(key)
	if err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("compile cache: %w", err)
	}
	return b, true, nil
}

// Put stores a module under key.
func (c *Cache) Put(key string, wasm []byte) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("compile cache: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(wasm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compile cache: %w", err)
	}
	if d, err := os.Open(c.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
