package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func build(t *testing.T, arts map[string]string, order []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	aw, err := NewWriter(&buf, Header{CreatedMs: 1, MlboxVersion: "test", Schema: 6, ArtifactBackend: "local", ArtifactsIn: true})
	if err != nil {
		t.Fatal(err)
	}
	db := "not really a bbolt file"
	w := aw.DBWriter(int64(len(db)))
	_, werr := io.WriteString(w, db)
	if err := aw.FinishDB(werr); err != nil {
		t.Fatal(err)
	}
	for _, p := range order {
		if err := aw.AddArtifact(p, int64(len(arts[p])), strings.NewReader(arts[p])); err != nil {
			t.Fatal(err)
		}
	}
	aw.ListObject("s3/only", 5)
	man, err := aw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if man.Artifacts != len(order) || len(man.Files) != len(order)+1 {
		t.Fatalf("manifest %+v", man)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	arts := map[string]string{"1/abc/artifacts/model/MLmodel": "flavors: {}", "1/abc/artifacts/empty": "", "2/x/y.bin": strings.Repeat("\x00\xff", 5000)}
	order := []string{"1/abc/artifacts/empty", "1/abc/artifacts/model/MLmodel", "2/x/y.bin"}
	b := build(t, arts, order)
	got := map[string]string{}
	h, man, err := Read(bytes.NewReader(b), func(_ Header, e Entry) error {
		raw, err := io.ReadAll(e.R)
		got[e.Name] = string(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Format != Format || h.Schema != 6 || !h.ArtifactsIn || len(man.Objects) != 1 || man.ArtifactBytes != int64(len(arts["1/abc/artifacts/model/MLmodel"])+10000) {
		t.Fatalf("header %+v manifest %+v", h, man)
	}
	for p, v := range arts {
		if got[ArtifactsDir+p] != v {
			t.Fatalf("%s: %q", p, got[ArtifactsDir+p])
		}
	}
	if got[DBName] != "not really a bbolt file" {
		t.Fatalf("db %q", got[DBName])
	}
	// fn may leave entries unread: they are hashed anyway.
	if _, _, err := Read(bytes.NewReader(b), func(Header, Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestDamage(t *testing.T) {
	arts := map[string]string{"1/r/artifacts/a.txt": "hello world", "1/r/artifacts/b.txt": "second file"}
	good := build(t, arts, []string{"1/r/artifacts/a.txt", "1/r/artifacts/b.txt"})
	flip := func(sub string) []byte {
		b := bytes.Clone(good)
		i := bytes.Index(b, []byte(sub))
		b[i] ^= 0x20
		return b
	}
	// rebuilt writes a tar by hand from good's entries, edited by edit.
	rebuilt := func(edit func(name string, data []byte) (string, []byte, bool)) []byte {
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		tr := tar.NewReader(bytes.NewReader(good))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			data, _ := io.ReadAll(tr)
			name, data, keep := edit(h.Name, data)
			if !keep {
				continue
			}
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg})
			tw.Write(data)
		}
		tw.Close()
		return out.Bytes()
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"a flipped byte", flip("hello world"), "1/r/artifacts/a.txt does not match its SHA-256"},
		{"truncated", good[:len(good)/2], ""},
		{"no manifest", rebuilt(func(n string, d []byte) (string, []byte, bool) { return n, d, n != ManifestName }), "no MANIFEST.json"},
		{"a file missing", rebuilt(func(n string, d []byte) (string, []byte, bool) { return n, d, n != "artifacts/1/r/artifacts/b.txt" }), "b.txt is listed in the manifest but missing"},
		{"a file added", rebuilt(func(n string, d []byte) (string, []byte, bool) {
			if n == "artifacts/1/r/artifacts/b.txt" {
				return "artifacts/1/r/artifacts/c.txt", d, true
			}
			return n, d, true
		}), "missing"},
		{"a path escaping", rebuilt(func(n string, d []byte) (string, []byte, bool) {
			if n == "artifacts/1/r/artifacts/b.txt" {
				return "artifacts/../../etc/x", d, true
			}
			return n, d, true
		}), "unexpected file"},
		{"not a backup", rebuilt(func(n string, d []byte) (string, []byte, bool) {
			if n == HeaderName {
				return "README", d, true
			}
			return n, d, true
		}), "not an mlbox backup"},
		{"not a tar", []byte(strings.Repeat("garbage ", 200)), ""},
		{"empty", nil, "empty archive"},
	} {
		_, _, err := Read(bytes.NewReader(c.b), func(Header, Entry) error { return nil })
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", c.name, err, c.want)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	var buf bytes.Buffer
	aw, _ := NewWriter(&buf, Header{})
	aw.AddDB(3, func(w io.Writer) error { _, err := w.Write([]byte("abc")); return err })
	aw.AddArtifact("x/y", 2, strings.NewReader("hi"))
	aw.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		Read(bytes.NewReader(b), func(_ Header, e Entry) error {
			_, err := io.Copy(io.Discard, e.R)
			return err
		})
	})
}
