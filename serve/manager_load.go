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

// loadVersion reads a version's MLmodel, module and optional profile from
// the artifact store, checks them, and loads the module warm. A version
// that is not a wasm model fails with ErrNotServable.
func (m *Manager) loadVersion(ctx context.Context, name, version string, poolSize int) (*loadedVersion, error) {
	start := time.Now()
	uri, err := m.st.GetModelVersionDownloadURI(ctx, name, version)
	if err != nil {
		return nil, err
	}
	dir, ok := strings.CutPrefix(uri, artifactPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: its artifacts are at %q, outside mlbox's artifact store", ErrNotServable, uri)
	}
	dir, err = artifact.CleanPath(strings.TrimLeft(dir, "/"))
	if err != nil {
		return nil, fmt.Errorf("%w: artifact location %q: %v", ErrNotServable, uri, err)
	}
	mlmodelBytes, err := m.readArtifact(ctx, path.Join(dir, "MLmodel"), maxMLmodelBytes)
	if errors.Is(err, artifact.ErrNotExist) {
		return nil, fmt.Errorf("%w: it has no MLmodel file at %s", ErrNotServable, uri)
	}
	if err != nil {
		return nil, err
	}
	mm, err := mlmodel.Parse(mlmodelBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotServable, err)
	}
	fl, err := wasmFlavorOf(mm)
	if errors.Is(err, errNoWasmFlavor) {
		have := "none"
		if len(mm.Flavors) > 0 {
			have = strings.Join(mm.FlavorNames(), ", ")
		}
		return nil, fmt.Errorf("%w: its MLmodel has no wasm flavor (flavors: %s); mlbox serves models compiled to WebAssembly (docs/wasm-abi.md)", ErrNotServable, have)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: MLmodel: %v", ErrNotServable, err)
	}
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
	model, err := m.rt.LoadWith(ctx, wasm, LoadOptions{PoolSize: poolSize})
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
	m.obs.attach(lv)
	return lv, nil
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
