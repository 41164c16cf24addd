package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"mlbox/serve/compile"
	"mlbox/serve/mlmodel"
	"mlbox/store/artifact"
)

// Size limits on what a version's artifacts may hold.
const (
	maxMLmodelBytes = 1 << 20
	maxModuleBytes  = 512 << 20
	maxProfileBytes = 64 << 20
)

// artifactPrefix is the scheme of locations in mlbox's own artifact store.
const artifactPrefix = "mlflow-artifacts:"

// versionMLmodel returns a version's model directory in the artifact
// store and its MLmodel file.
func (m *Manager) versionMLmodel(ctx context.Context, name, version string) (string, []byte, error) {
	uri, err := m.st.GetModelVersionDownloadURI(ctx, name, version)
	if err != nil {
		return "", nil, err
	}
	dir, ok := strings.CutPrefix(uri, artifactPrefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: its artifacts are at %q, outside mlbox's artifact store", ErrNotServable, uri)
	}
	dir, err = artifact.CleanPath(strings.TrimLeft(dir, "/"))
	if err != nil {
		return "", nil, fmt.Errorf("%w: artifact location %q: %v", ErrNotServable, uri, err)
	}
	b, err := m.readArtifact(ctx, path.Join(dir, "MLmodel"), maxMLmodelBytes)
	if errors.Is(err, artifact.ErrNotExist) {
		return "", nil, fmt.Errorf("%w: it has no MLmodel file at %s", ErrNotServable, uri)
	}
	return dir, b, err
}

// loadVersion reads a version's MLmodel and its module (the wasm flavor's,
// or the one the compiler makes of a flavor it handles), checks them, and
// loads the module warm, with the optional training profile. A version
// that is neither fails with ErrNotServable.
func (m *Manager) loadVersion(ctx context.Context, name, version string, poolSize int) (*loadedVersion, error) {
	start := time.Now()
	dir, mlmodelBytes, err := m.versionMLmodel(ctx, name, version)
	if err != nil {
		return nil, err
	}
	mm, err := mlmodel.Parse(mlmodelBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotServable, err)
	}
	fl, err := wasmFlavorOf(mm)
	var wasm []byte
	switch {
	case errors.Is(err, errNoWasmFlavor) && compile.Compilable(mm) && m.cfg.NoCompile:
		return nil, fmt.Errorf("%w: it is a model mlbox compiles (flavors: %s), but compiling is off (serve.compile = false)", ErrNotServable, flavorList(mm))
	case errors.Is(err, errNoWasmFlavor) && compile.Compilable(mm):
		if wasm, err = m.compiler.module(ctx, vkey{name, version}, dir, mlmodelBytes); err != nil {
			return nil, err
		}
		fl = &wasmFlavor{compiled: true}
	case errors.Is(err, errNoWasmFlavor):
		return nil, fmt.Errorf("%w: its MLmodel has no flavor mlbox can serve (flavors: %s); mlbox serves sklearn models and models compiled to WebAssembly (docs/serving.md)", ErrNotServable, flavorList(mm))
	case err != nil:
		return nil, fmt.Errorf("%w: MLmodel: %v", ErrNotServable, err)
	default:
		if wasm, err = m.readModule(ctx, dir, fl); err != nil {
			return nil, err
		}
	}
	model, err := m.rt.LoadWith(ctx, wasm, LoadOptions{PoolSize: poolSize, Trusted: fl.compiled})
	if err != nil {
		return nil, err
	}
	meta := model.Meta()
	if err := checkFlavor(fl, &meta); err != nil {
		model.Close()
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	var prof *Profile
	profName := fl.Profile
	if profName == "" {
		profName = "profile.json"
	}
	if pp, err := artifact.CleanPath(path.Join(dir, profName)); err == nil && strings.HasPrefix(pp, dir+"/") {
		b, err := m.readArtifact(ctx, pp, maxProfileBytes)
		switch {
		case err == nil:
			if prof, err = ParseProfile(b, &meta); err != nil {
				m.log.Warn("serve: ignoring the version's profile; no drift monitoring", "model", name, "version", version, "error", err)
				prof = nil
			}
		case errors.Is(err, artifact.ErrNotExist):
			if fl.Profile != "" {
				m.log.Warn("serve: the profile named in MLmodel is missing; no drift monitoring", "model", name, "version", version, "profile", fl.Profile)
			}
		default:
			model.Close()
			return nil, err
		}
	}
	lv := newLoadedVersion(name, version, model, prof, time.Since(start))
	lv.compiled = fl.compiled
	m.obs.attach(lv)
	return lv, nil
}

// readModule reads the wasm flavor's module and checks its digest.
func (m *Manager) readModule(ctx context.Context, dir string, fl *wasmFlavor) ([]byte, error) {
	modPath, err := artifact.CleanPath(path.Join(dir, fl.Module))
	if err != nil || !strings.HasPrefix(modPath, dir+"/") && dir != "" {
		return nil, fmt.Errorf("%w: the wasm flavor's module %q is not inside the model directory", ErrInvalidModule, fl.Module)
	}
	wasm, err := m.readArtifact(ctx, modPath, maxModuleBytes)
	if errors.Is(err, artifact.ErrNotExist) {
		return nil, fmt.Errorf("%w: module file %s is missing", ErrInvalidModule, fl.Module)
	}
	if err != nil {
		return nil, err
	}
	if fl.SHA256 != "" {
		sum := sha256.Sum256(wasm)
		if got := hex.EncodeToString(sum[:]); got != fl.SHA256 {
			return nil, fmt.Errorf("%w: %s has sha256 %s, MLmodel says %s", ErrInvalidModule, fl.Module, got, fl.SHA256)
		}
	}
	return wasm, nil
}

func flavorList(mm *mlmodel.MLmodel) string {
	if len(mm.Flavors) == 0 {
		return "none"
	}
	return strings.Join(mm.FlavorNames(), ", ")
}

func (m *Manager) readArtifact(ctx context.Context, p string, limit int64) ([]byte, error) {
	obj, err := m.arts.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	if n := obj.Size(); n > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the limit of %d", ErrNotServable, path.Base(p), n, limit)
	}
	b, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is over the limit of %d bytes", ErrNotServable, path.Base(p), limit)
	}
	return b, nil
}
