package artifact

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	ok := map[string]string{
		"":                              "",
		".":                             "",
		"./":                            "",
		"a":                             "a",
		"a/b/c.txt":                     "a/b/c.txt",
		"1/abc/artifacts/model/MLmodel": "1/abc/artifacts/model/MLmodel",
		"a//b":                          "a/b",
		"a/./b/":                        "a/b",
		"./a":                           "a",
		"a..b/c..":                      "a..b/c..",
		"...":                           "...",
		".hidden/x":                     ".hidden/x",
		"with space/ünïcödé/日本":         "with space/ünïcödé/日本",
		"1:x":                           "1:x",
		"file%20name?x=1&y=%2e%2e":      "file%20name?x=1&y=%2e%2e",
		strings.Repeat("s", 255) + "/x": strings.Repeat("s", 255) + "/x",
	}
	for in, want := range ok {
		got, err := CleanPath(in)
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"..", "../a", "a/..", "a/../b", "a/b/../../..", "./..", "a//..//b",
		"/", "/a", "//a", "/../a",
		"C:", "C:/x", "c:x", "a:b/c", "./C:/x", ".//c:", "z:\\x", `a\b`, `\\server\share`, `..\..\x`,
		"a#b", "#", "a\x00b", "a\nb", "a\tb", "a\x7fb", "a\u0085b", "\xff\xfe",
		strings.Repeat("s", 256), strings.Repeat("abcdefgh/", 120),
	}
	for _, in := range bad {
		if got, err := CleanPath(in); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("CleanPath(%q) = %q, %v; want ErrInvalidPath", in, got, err)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"", ".", "a/b", "../x", "a/../b", "/abs", "C:/x", `a\b`, "a#b", "a\x00b", "a//b/./c/",
		"..a/b..", "a/.../b", "\xff", "日本/語", "1/abc/artifacts/model/MLmodel",
	} {
		f.Add(s)
	}
	root := filepath.FromSlash("/srv/mlbox/artifacts")
	f.Fuzz(func(t *testing.T, p string) {
		got, err := CleanPath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("CleanPath(%q): error %v does not wrap ErrInvalidPath", p, err)
			}
			return
		}
		if strings.HasPrefix(got, "/") || strings.HasSuffix(got, "/") {
			t.Fatalf("CleanPath(%q) = %q: leading/trailing slash", p, got)
		}
		if strings.ContainsAny(got, "\\#\x00") {
			t.Fatalf("CleanPath(%q) = %q: forbidden character", p, got)
		}
		if got != "" {
			for _, seg := range strings.Split(got, "/") {
				// ".." is only forbidden as a whole segment: "a..b" is a
				// legitimate file name.
				if seg == ".." || seg == "." || seg == "" {
					t.Fatalf("CleanPath(%q) = %q: bad segment %q", p, got, seg)
				}
			}
		}
		if len(got) > 1 && got[1] == ':' && isASCIILetter(got[0]) {
			t.Fatalf("CleanPath(%q) = %q: drive letter", p, got)
		}
		joined := filepath.Join(root, filepath.FromSlash(got))
		if rel, err := filepath.Rel(root, joined); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			t.Fatalf("CleanPath(%q) = %q escapes root: %q", p, got, joined)
		}
		if !strings.HasPrefix(joined+string(filepath.Separator), root+string(filepath.Separator)) {
			t.Fatalf("CleanPath(%q) = %q escapes root: %q", p, got, joined)
		}
		// Idempotent.
		if again, err := CleanPath(got); err != nil || again != got {
			t.Fatalf("CleanPath not idempotent on %q: %q, %v", got, again, err)
		}
	})
}
