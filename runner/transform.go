package runner

import "context"

// transform runs script on the live database, in one transaction that
// stops at the first error (the engine's contract).
func (r *Runner) transform(ctx context.Context, script string) error {
	r.log.Info("transforming the live database", "script_bytes", len(script))
	return r.eng.Transform(ctx, script)
}
