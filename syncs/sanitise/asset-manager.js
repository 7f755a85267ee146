// asset-manager (MongoDB): run by mongosh on the restore's shadow copy of
// govuk_assets_production, before it is swapped in. db is that copy: the
// script must not name a database (the runner refuses getSiblingDB and the
// like). Removes what must not leave production: access-limited drafts and
// uploaders' details.
const assets = db.assets;

// Access-limited drafts are unpublished attachments naming who may see them.
const limited = assets.deleteMany({ draft: true, access_limited: { $exists: true, $ne: [] } });
print(`removed ${limited.deletedCount} access-limited draft assets`);

// Organisations and users allowed to see drafts, and bypass tokens.
assets.updateMany({}, { $unset: { access_limited_organisation_ids: "", auth_bypass_ids: "" } });

// Uploaders: pseudonymise consistently from the document id.
assets.find({ uploaded_by: { $exists: true } }).forEach((doc) => {
  const id = doc._id.toString();
  assets.updateOne({ _id: doc._id }, { $set: { uploaded_by: `uploader-${hex_md5(id)}` } });
});

// Deleted assets older than 30 days are noise.
const cutoff = new Date(Date.now() - 30 * 24 * 3600 * 1000);
assets.deleteMany({ deleted_at: { $lt: cutoff } });
