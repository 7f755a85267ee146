package declare

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envsync/envsync/contract"
	"github.com/envsync/envsync/model"
)

// CronDays renders days of week as the day-of-week field of a cron line:
// "*" for every day, "a-b" for one run of consecutive days, else a list.
func CronDays(days []time.Weekday) string {
	ds := slices.Clone(days)
	slices.Sort(ds)
	ds = slices.Compact(ds)
	if len(ds) == 7 {
		return "*"
	}
	if len(ds) > 2 && int(ds[len(ds)-1]-ds[0]) == len(ds)-1 {
		return fmt.Sprintf("%d-%d", ds[0], ds[len(ds)-1])
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.Itoa(int(d))
	}
	return strings.Join(parts, ",")
}

type resolver struct {
	root string
	pos  map[string]model.Position
	errs Errors
}

func (r *resolver) errorf(pos model.Position, path, format string, args ...any) {
	r.errs = append(r.errs, Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// at is where the estate declares the field at labels, or its nearest
// declared parent.
func (r *resolver) at(labels ...string) model.Position {
	p, _ := r.declared(labels...)
	return p
}

// declared is at, with the number of labels that matched.
func (r *resolver) declared(labels ...string) (model.Position, int) {
	for n := len(labels); n > 0; n-- {
		if p, ok := r.pos[strings.Join(labels[:n], "\x00")]; ok {
			return p, n
		}
	}
	return model.Position{}, 0
}

func (r *resolver) duration(s string, labels ...string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		r.errorf(r.at(labels...), cuePath(labels...), "invalid duration %q: %v", s, err)
	}
	return d
}

// cuePath renders labels as a CUE field path, quoting where CUE would.
func cuePath(labels ...string) string { return pathString(labels) }

func (r *resolver) estate(v cue.Value) *model.Estate {
	e := &model.Estate{Root: r.root}
	// Labels (and their order) first: top-level typos, environments in
	// the order they are declared.
	it, err := v.Fields()
	if err != nil {
		r.errorf(model.Position{}, "", "%v", err)
		return e
	}
	for it.Next() {
		if l := it.Selector().String(); !slices.Contains(topLevel, l) {
			r.errorf(r.at(l), cuePath(l), "field not allowed (want one of %s)", strings.Join(topLevel, ", "))
		}
	}
	var envOrder []string
	if it, err := v.LookupPath(cue.ParsePath("environments")).Fields(); err == nil {
		for it.Next() {
			envOrder = append(envOrder, it.Selector().Unquoted())
		}
	}

	r.hiddenClassificationLabels(v)

	// One Decode of the whole estate: much faster than one per field.
	var d estateDecl
	if err := v.Decode(&d); err != nil {
		r.errorf(model.Position{}, "", "%v", err)
		return e
	}
	e.Image, e.Pushgateway = d.Image, d.Pushgateway
	e.ScratchImages = map[model.Engine]string{}
	for eng, image := range d.Scratch.Images {
		e.ScratchImages[model.Engine(eng)] = image
	}
	a := d.Alerting
	e.Alerting = model.Alerting{
		Severity: a.Severity, Labels: a.Labels, RunbookURL: a.RunbookURL,
		DashboardURL: a.DashboardURL, DashboardUID: a.DashboardUID, DashboardName: a.DashboardName,
	}
	if e.Alerting.Labels == nil {
		e.Alerting.Labels = map[string]string{}
	}
	for _, name := range envOrder {
		ed := d.Environments[name]
		e.Environments = append(e.Environments, model.Environment{
			Name: name, Bucket: ed.Bucket, Namespace: ed.Namespace, Sanitise: ed.Sanitise,
			PublishSanitised: ed.Publish == "sanitised", RawBucket: ed.RawBucket, SanitisedOnly: ed.SanitisedOnly,
			DumpFormat: ed.DumpFormat, KeepDumps: ed.Retention.Keep, KeepDays: ed.Retention.Days,
			BucketExpiryDays: ed.BucketExpiryDays,
			TransformLimit: r.duration(ed.TransformLimit, "environments", name, "transformLimit"),
			RestoreFrom:    ed.RestoreFrom, Class: ed.Class, UndeclaredClass: ed.UndeclaredClass,
			TLS: r.tls(model.TLS{}, &ed.TLS, "environments", name, "tls"),
		})
		env := &e.Environments[len(e.Environments)-1]
		env.Monitoring = monitoring(d.Monitoring, ed.Monitoring)
		if g := ed.Grafana; g != nil {
			env.GrafanaURL, env.GrafanaDatasource = strings.TrimSuffix(g.URL, "/"), g.Datasource
		}
		env.Suspend, env.PodAnnotations = ed.Suspend.On, ed.PodAnnotations
		env.Suspension = r.suspension(ed.Suspend, "environments", name, "suspend")
		if sa := ed.ServiceAccount; sa != nil {
			env.ServiceAccount = &model.ServiceAccount{Name: sa.Name, Create: sa.Create, Annotations: sa.Annotations}
		}
		env.JobNamePrefix = ed.JobNamePrefix
		if d := ed.DNSConfig; d != nil {
			env.DNS = &model.DNS{Nameservers: d.Nameservers, Searches: d.Searches, Options: d.Options}
		}
		if x := ed.ExternalSecrets; x != nil {
			env.ExternalSecrets = &model.ExternalSecrets{
				StoreName: x.Store.Name, StoreKind: x.Store.Kind, RemoteKey: x.RemoteKey,
				UsernameProperty: x.UsernameProperty, PasswordProperty: x.PasswordProperty,
				RefreshInterval: r.duration(x.RefreshInterval, "environments", name, "externalSecrets", "refreshInterval"),
			}
		}
	}
	for _, name := range sortedKeys(d.Classes) {
		cd := d.Classes[name]
		e.Classes = append(e.Classes, model.Class{
			Name: name, Days: weekdays(cd.Days), ArmedDays: weekdays(cd.ArmedDays),
			Window: r.duration(cd.Window, "classes", name, "window"),
		})
	}
	for _, name := range sortedKeys(d.Tiers) {
		td := d.Tiers[name]
		backup := r.duration(td.LongRunning.Backup, "tiers", name, "longRunning", "backup")
		restore := r.duration(td.LongRunning.Restore, "tiers", name, "longRunning", "restore")
		e.Tiers = append(e.Tiers, model.Tier{
			Name: name,
			LongRunning: map[model.Operation]time.Duration{
				model.Backup: backup, model.Restore: restore,
				// A publish dumps, loads, sanitises and dumps again.
				model.Publish: backup + restore,
			},
			Deadline:  r.duration(td.Deadline, "tiers", name, "deadline"),
			Resources: resources(td.Resources),
		})
	}
	if u := a.Undeclared; u != nil {
		e.Alerting.Undeclared = &model.Undeclared{Tier: u.Tier, Class: u.Class}
		if _, ok := e.Tier(u.Tier); !ok {
			r.errorf(r.at("alerting", "undeclared", "tier"), cuePath("alerting", "undeclared", "tier"), "unknown tier %q (declared: %s)", u.Tier, e.TierNames())
		}
		if _, ok := e.Class(u.Class); !ok && u.Class != "" {
			r.errorf(r.at("alerting", "undeclared", "class"), cuePath("alerting", "undeclared", "class"), "unknown class %q (declared: %s)", u.Class, classNames(e))
		}
	}
	for _, name := range sortedKeys(d.Syncs) {
		e.Syncs = append(e.Syncs, r.sync(e, name, d.Syncs[name]))
	}
	return e
}

// monitoring is the estate's placement overridden by an environment's:
// namespaces replaced, labels added.
func monitoring(estate monitoringDecl, env *monitoringDecl) model.Monitoring {
	m := model.Monitoring{
		RuleNamespace: estate.RuleNamespace, DashboardNamespace: estate.DashboardNamespace,
		RuleLabels: maps.Clone(estate.RuleLabels), DashboardLabels: maps.Clone(estate.DashboardLabels),
	}
	if m.RuleLabels == nil {
		m.RuleLabels = map[string]string{}
	}
	if m.DashboardLabels == nil {
		m.DashboardLabels = map[string]string{}
	}
	if env == nil {
		return m
	}
	if env.RuleNamespace != "" {
		m.RuleNamespace = env.RuleNamespace
	}
	if env.DashboardNamespace != "" {
		m.DashboardNamespace = env.DashboardNamespace
	}
	maps.Copy(m.RuleLabels, env.RuleLabels)
	maps.Copy(m.DashboardLabels, env.DashboardLabels)
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func weekdays(ds []int) []time.Weekday {
	out := make([]time.Weekday, len(ds))
	for i, d := range ds {
		out[i] = time.Weekday(d)
	}
	return out
}

func resources(d resourcesDecl) model.Resources {
	return model.Resources{
		RequestsCPU: d.Requests.CPU, RequestsMemory: d.Requests.Memory,
		LimitsCPU: d.Limits.CPU, LimitsMemory: d.Limits.Memory, Tmp: d.Tmp, Scratch: d.Scratch,
	}
}

// hiddenClassificationLabels refuses an unquoted label starting with "_"
// in a classification: CUE hides it, so it would vanish from the data and
// the gate would refuse the column it names (Mongo's _id) with no word of
// why.
func (r *resolver) hiddenClassificationLabels(v cue.Value) {
	syncs, err := v.LookupPath(cue.ParsePath("syncs")).Fields()
	if err != nil {
		return
	}
	for syncs.Next() {
		name := syncs.Selector().Unquoted()
		tables, err := syncs.Value().LookupPath(cue.ParsePath("classification")).Fields(cue.Hidden(true))
		if err != nil {
			continue
		}
		for tables.Next() {
			labels := []cue.Iterator{*tables}
			if cols, err := tables.Value().Fields(cue.Hidden(true)); err == nil {
				for cols.Next() {
					labels = append(labels, *cols)
				}
			}
			for _, l := range labels {
				if l.Selector().LabelType().IsHidden() {
					pos := r.at("syncs", name, "classification")
					if p := l.Value().Pos(); p.IsValid() {
						pos = relPos(r.root, p)
					}
					r.errorf(pos, cuePath("syncs", name, "classification"), "%s is hidden in CUE, so the classification would not name it: quote it (%q)", l.Selector(), l.Selector().String())
				}
			}
		}
	}
}

func (r *resolver) sync(e *model.Estate, name string, d syncDecl) model.Sync {
	pos := r.at("syncs", name)
	s := model.Sync{
		Name: name, Pos: pos, Instance: d.Instance, Engine: model.Engine(d.Engine),
		Owner: d.Owner, Host: d.Host, Port: d.Port, Secret: d.Secret,
		Tier: map[model.Operation]string{
			model.Restore: d.RestoreTier, model.Transform: d.Tier, model.Backup: d.BackupTier, model.Publish: d.BackupTier,
		},
		MaxRunTime:     r.duration(d.MaxRunTime, "syncs", name, "maxRunTime"),
		NoPersonalData: !d.PersonalData,

		Classification:      d.Classification,
		AllowedEmailDomains: d.AllowedEmailDomains,
		KeepSnapshots:       d.KeepSnapshots, SearchAuth: d.SearchAuth,
	}
	// Tier names and the instance are checked here, where the field's own
	// line is known: a tier that defaults from another field is reported
	// there only.
	for _, f := range []struct{ field, value string }{{"tier", d.Tier}, {"backupTier", d.BackupTier}, {"restoreTier", d.RestoreTier}} {
		if _, ok := e.Tier(f.value); ok {
			continue
		}
		if pos, depth := r.declared("syncs", name, f.field); depth == 3 {
			r.errorf(pos, cuePath("syncs", name, f.field), "unknown tier %q (declared: %s)", f.value, e.TierNames())
		}
	}
	if msgs := validation.IsValidLabelValue(d.Instance); len(msgs) > 0 {
		r.errorf(r.at("syncs", name, "instance"), cuePath("syncs", name, "instance"),
			"instance %q is not usable as a Kubernetes label value: %s", d.Instance, strings.Join(msgs, "; "))
	}
	switch {
	case d.Database != "" && len(d.Databases) > 0:
		r.errorf(r.at("syncs", name, "databases"), cuePath("syncs", name), "sync %q: set database or databases, not both", name)
	case d.Database != "":
		s.Databases = []string{d.Database}
	case len(d.Databases) > 0:
		s.Databases = slices.Clone(d.Databases)
	default:
		r.errorf(pos, cuePath("syncs", name), "sync %q: no database: set database (or databases, in order)", name)
	}
	if s.Owner == "" && len(s.Databases) == 1 && s.Engine != model.OpenSearch {
		s.Owner = contract.DefaultOwner(s.Databases[0])
	}
	if s.Port == 0 {
		if e, ok := contract.EngineNamed(string(s.Engine)); ok {
			s.Port = e.DefaultPort
		}
	}
	if d.Resources != nil {
		res := resources(*d.Resources)
		s.Resources = &res
	}
	for k, val := range d.Env {
		s.Env = append(s.Env, model.EnvVar{Name: k, Value: val})
	}
	slices.SortFunc(s.Env, func(a, b model.EnvVar) int { return strings.Compare(a.Name, b.Name) })

	for _, env := range sortedKeys(d.Environments) {
		if _, ok := e.Environment(env); !ok {
			r.errorf(r.at("syncs", name, "environments", env), cuePath("syncs", name, "environments", env),
				"sync %q: unknown environment %q (declared: %s)", name, env, e.EnvironmentNames())
		}
	}
	for _, env := range e.Environments {
		if jd, ok := d.Environments[env.Name]; ok {
			s.Jobs = append(s.Jobs, r.job(e, &s, d, env, jd))
		}
	}
	return s
}

func (r *resolver) job(e *model.Estate, s *model.Sync, sd syncDecl, env model.Environment, d jobDecl) model.Job {
	labels := []string{"syncs", s.Name, "environments", env.Name}
	pos := r.at(labels...)
	where := fmt.Sprintf("sync %q in %s", s.Name, env.Name)
	j := model.Job{
		Environment: env.Name, Pos: pos, Class: d.Class,
		Suspend: sd.Suspend.On, Ensure: model.Ensure(sd.Ensure),
		Suspension:             r.suspension(sd.Suspend, "syncs", s.Name, "suspend"),
		AllowProductionRestore: d.AllowProductionRestore,
		AcknowledgedHazard:     d.AcknowledgeHazard,
	}
	if d.Suspend != nil {
		j.Suspend = d.Suspend.On
		j.Suspension = r.suspension(*d.Suspend, append(labels, "suspend")...)
	}
	j.MaxRunTime = r.duration(d.MaxRunTime, append(labels, "maxRunTime")...)
	j.Endpoint, j.Repository = d.Endpoint, d.Repository
	if env.Suspend && !j.Suspend {
		j.Suspend, j.Suspension = true, env.Suspension
	}
	if !j.Suspend {
		j.Suspension = model.Suspension{}
	}
	if d.Ensure != "" {
		j.Ensure = model.Ensure(d.Ensure)
	}
	if j.Class == "" {
		j.Class = env.Class
	}
	j.TLS = r.tls(env.TLS, sd.TLS, "syncs", s.Name, "tls")
	j.TLS = r.tls(j.TLS, d.TLS, append(labels, "tls")...)

	// When: a time of day on the class's days, or an explicit cron line.
	switch {
	case d.At != "" && d.Schedule != "":
		r.errorf(pos, cuePath(labels...), "%s: set at or schedule, not both", where)
	case d.At != "":
		c, ok := e.Class(j.Class)
		if !ok {
			r.errorf(r.at(append(labels, "class")...), cuePath(append(labels, "class")...),
				"%s: unknown class %q (declared: %s)", where, j.Class, classNames(e))
			break
		}
		hh, mm, _ := strings.Cut(d.At, ":")
		h, _ := strconv.Atoi(hh)
		m, _ := strconv.Atoi(mm)
		j.Schedule = fmt.Sprintf("%d %d * * %s", m, h, CronDays(c.Days))
	case d.Schedule != "":
		j.Schedule = d.Schedule
	default:
		r.errorf(pos, cuePath(labels...), "%s: no schedule: set at (on the class's days) or schedule (cron)", where)
	}

	// What: the sanitise scripts per database.
	switch san := d.Sanitise.(type) {
	case nil:
	case string:
		if len(s.Databases) > 1 {
			r.errorf(r.at(append(labels, "sanitise")...), cuePath(append(labels, "sanitise")...),
				"%s: sync has %d databases: sanitise must map each database to its script", where, len(s.Databases))
			break
		}
		if len(s.Databases) == 1 {
			j.Sanitise = map[string]string{s.Databases[0]: san}
		}
	case map[string]any:
		j.Sanitise = map[string]string{}
		for db, p := range san {
			if !slices.Contains(s.Databases, db) {
				r.errorf(r.at(append(labels, "sanitise", db)...), cuePath(append(labels, "sanitise", db)...),
					"%s: sanitise names database %q, which the sync does not have (%s)", where, db, strings.Join(s.Databases, ", "))
				continue
			}
			j.Sanitise[db], _ = p.(string)
		}
	}

	// Which operations: explicit, or from the flow. An environment that
	// publishes sanitised dumps publishes a sync with personal data whose
	// engine runs scripts.
	store := model.Backup
	if ce, ok := contract.EngineNamed(string(s.Engine)); ok && env.PublishSanitised && ce.Scripts && !s.NoPersonalData {
		store = model.Publish
	}
	switch {
	case len(d.Operations) > 0:
		for _, o := range d.Operations {
			j.Operations = append(j.Operations, model.Operation(o))
		}
		if !model.InOrder(j.Operations) {
			r.errorf(r.at(append(labels, "operations")...), cuePath(append(labels, "operations")...),
				"%s: operations %v must each appear once, in the order restore, transform, backup or publish", where, d.Operations)
		}
	case env.RestoreFrom == "" && d.RestoreFrom == "":
		j.Operations = []model.Operation{store}
	default:
		j.Operations = []model.Operation{model.Restore, store}
	}
	if j.Has(model.Restore) {
		j.RestoreFrom = d.RestoreFrom
		if j.RestoreFrom == "" {
			j.RestoreFrom = env.RestoreFrom
		}
	} else if d.RestoreFrom != "" {
		r.errorf(r.at(append(labels, "restoreFrom")...), cuePath(append(labels, "restoreFrom")...),
			"%s: restoreFrom is set but the job does not restore (operations %v)", where, j.Operations)
	}
	return j
}

// tls overrides base with what d sets, field by field; a CA must name
// exactly one of a ConfigMap and a Secret.
func (r *resolver) tls(base model.TLS, d *tlsDecl, labels ...string) model.TLS {
	if d == nil {
		return base
	}
	if d.Mode != "" {
		base.Mode = d.Mode
	}
	if d.CA != nil {
		if (d.CA.ConfigMap == "") == (d.CA.Secret == "") {
			r.errorf(r.at(append(labels, "ca")...), cuePath(append(labels, "ca")...),
				"ca: set exactly one of configMap and secret (the ConfigMap or Secret holding the CA bundle)")
		}
		base.CA = &model.CA{ConfigMap: d.CA.ConfigMap, Secret: d.CA.Secret, Key: d.CA.Key}
	}
	return base
}

func classNames(e *model.Estate) string {
	names := make([]string, len(e.Classes))
	for i, c := range e.Classes {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// suspension resolves a dated suspension at the field labels name.
func (r *resolver) suspension(d suspendDecl, labels ...string) model.Suspension {
	if !d.On || d.Until == "" {
		return model.Suspension{}
	}
	t, err := time.Parse(time.DateOnly, d.Until)
	if err != nil {
		r.errorf(r.at(append(labels, "until")...), cuePath(append(labels, "until")...), "invalid date %q: want YYYY-MM-DD", d.Until)
	}
	return model.Suspension{Until: t, Reason: d.Reason}
}
