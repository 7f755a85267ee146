// asset-manager (MongoDB): run by mongosh on the restore's shadow copy of
// govuk_assets_production, before it is swapped in. db is that copy: the
// script must not name a database (the runner refuses getSiblingDB and the
// like). Removes what must not leave production: access-limited drafts,
// uploaders' and users' details.
const crypto = require("crypto");
const pseudonym = (s) => crypto.createHash("sha256").update(String(s)).digest("hex").slice(0, 16);

// Access-limited drafts are unpublished attachments naming who may see them.
const limited = db.assets.deleteMany({ draft: true, access_limited: { $exists: true, $ne: [] } });
print(`removed ${limited.deletedCount} access-limited draft assets`);

// Organisations and users allowed to see drafts, and bypass tokens.
db.assets.updateMany({}, { $unset: { access_limited_organisation_ids: "", auth_bypass_ids: "" } });

// Uploaders: pseudonymised consistently, one update per uploader rather
// than per asset.
for (const who of db.assets.distinct("uploaded_by")) {
  if (who === null || who === undefined) continue;
  db.assets.updateMany({ uploaded_by: who }, { $set: { uploaded_by: `uploader-${pseudonym(who)}@example.invalid` } });
}

// Users: names and emails, pseudonymised from their id.
db.users.find({}).forEach((u) => {
  const p = pseudonym(u._id);
  db.users.updateOne({ _id: u._id }, { $set: { name: `User ${p}`, email: `user-${p}@example.invalid` } });
});

// Deleted assets older than 30 days are noise.
const cutoff = new Date(Date.now() - 30 * 24 * 3600 * 1000);
db.assets.deleteMany({ deleted_at: { $lt: cutoff } });
