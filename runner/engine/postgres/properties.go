package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A dump without -C carries none of the database's own properties, and the
// swap replaces the database itself: without these, the new live would
// silently lose its encoding and collation, its settings
// (ALTER DATABASE ... SET), its grants (a REVOKE CONNECT FROM PUBLIC
// included), its connection limit and its comment.

// localeOf is the CREATE DATABASE clause giving the shadow live's encoding
// and collation; empty when live does not exist yet (the server's defaults).
func localeOf(ctx context.Context, mc *pgx.Conn, live string) (string, error) {
	var version int
	if err := mc.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return "", fmt.Errorf("postgres: reading the server version: %w", err)
	}
	// The locale provider columns came in 15; 17 renamed daticulocale.
	provider, icu := "'c'", "NULL::text"
	switch {
	case version >= 170000:
		provider, icu = "datlocprovider", "datlocale"
	case version >= 150000:
		provider, icu = "datlocprovider", "daticulocale"
	}
	var encoding, collate, ctype, prov string
	var icuLocale *string
	err := mc.QueryRow(ctx, fmt.Sprintf(`SELECT pg_encoding_to_char(encoding), datcollate, datctype, %s::text, %s
		FROM pg_database WHERE datname = $1`, provider, icu), live).Scan(&encoding, &collate, &ctype, &prov, &icuLocale)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres: reading the encoding and collation of %q: %w", live, err)
	}
	clause := fmt.Sprintf(" ENCODING %s LC_COLLATE %s LC_CTYPE %s", quoteLiteral(encoding), quoteLiteral(collate), quoteLiteral(ctype))
	switch {
	case prov == "i" && icuLocale != nil:
		clause += " LOCALE_PROVIDER icu ICU_LOCALE " + quoteLiteral(*icuLocale)
	case prov == "b" && icuLocale != nil:
		clause += " LOCALE_PROVIDER builtin BUILTIN_LOCALE " + quoteLiteral(*icuLocale)
	}
	return clause, nil
}

// listSettings are the settings whose stored value is already a list in
// SQL syntax (GUC_LIST_QUOTE): written back as they are, not as one string.
var listSettings = map[string]bool{
	"search_path": true, "temp_tablespaces": true, "session_preload_libraries": true,
	"local_preload_libraries": true, "shared_preload_libraries": true,
}

// copyDatabaseProperties gives shadow live's settings (its own and its
// per-role ones), grants, connection limit and comment. Nothing to do when
// live does not exist.
func copyDatabaseProperties(ctx context.Context, mc *pgx.Conn, live, shadow string) error {
	var connLimit int
	var hasACL bool
	var comment *string
	err := mc.QueryRow(ctx, `SELECT datconnlimit, datacl IS NOT NULL, shobj_description(oid, 'pg_database')
		FROM pg_database WHERE datname = $1`, live).Scan(&connLimit, &hasACL, &comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("postgres: reading the properties of %q: %w", live, err)
	}
	var stmts []string

	rows, err := mc.Query(ctx, `SELECT coalesce(r.rolname, ''), cfg
		FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
		LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) cfg
		WHERE d.datname = $1 ORDER BY 1, 2`, live)
	if err != nil {
		return fmt.Errorf("postgres: reading the settings of %q: %w", live, err)
	}
	type setting struct{ Role, Cfg string }
	settings, err := pgx.CollectRows(rows, pgx.RowToStructByPos[setting])
	if err != nil {
		return fmt.Errorf("postgres: reading the settings of %q: %w", live, err)
	}
	for _, st := range settings {
		name, value, ok := strings.Cut(st.Cfg, "=")
		if !ok {
			continue
		}
		if !listSettings[strings.ToLower(name)] {
			value = quoteLiteral(value)
		}
		target := "DATABASE " + ident(shadow)
		if st.Role != "" {
			target = "ROLE " + ident(st.Role) + " IN DATABASE " + ident(shadow)
		}
		parts := strings.Split(name, ".") // custom settings: "app.flag"
		for i := range parts {
			parts[i] = ident(parts[i])
		}
		stmts = append(stmts, fmt.Sprintf("ALTER %s SET %s TO %s", target, strings.Join(parts, "."), value))
	}

	if hasACL {
		rows, err := mc.Query(ctx, `SELECT coalesce(r.rolname, ''), a.privilege_type, a.is_grantable
			FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
			WHERE d.datname = $1 AND a.grantee <> d.datdba ORDER BY 1, 2`, live)
		if err != nil {
			return fmt.Errorf("postgres: reading the grants on %q: %w", live, err)
		}
		type grant struct {
			Role, Privilege string
			Grantable       bool
		}
		grants, err := pgx.CollectRows(rows, pgx.RowToStructByPos[grant])
		if err != nil {
			return fmt.Errorf("postgres: reading the grants on %q: %w", live, err)
		}
		// The defaults (CONNECT and TEMPORARY to PUBLIC) go; live's grants
		// come, but for those of live's owner: the new owner has its own.
		stmts = append(stmts, "REVOKE ALL ON DATABASE "+ident(shadow)+" FROM PUBLIC")
		for _, g := range grants {
			to := "PUBLIC"
			if g.Role != "" {
				to = ident(g.Role)
			}
			s := fmt.Sprintf("GRANT %s ON DATABASE %s TO %s", g.Privilege, ident(shadow), to)
			if g.Grantable {
				s += " WITH GRANT OPTION"
			}
			stmts = append(stmts, s)
		}
	}
	if comment != nil {
		stmts = append(stmts, fmt.Sprintf("COMMENT ON DATABASE %s IS %s", ident(shadow), quoteLiteral(*comment)))
	}
	stmts = append(stmts, fmt.Sprintf("ALTER DATABASE %s CONNECTION LIMIT %d", ident(shadow), connLimit))

	for _, s := range stmts {
		if _, err := mc.Exec(ctx, s); err != nil {
			return fmt.Errorf("postgres: giving the shadow the properties of %q (%s): %w", live, s, err)
		}
	}
	return nil
}
