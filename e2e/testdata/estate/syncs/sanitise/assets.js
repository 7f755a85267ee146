// Uploaders are pseudonymised from each record's id; db is the restore's
// shadow copy of assets_production.
db.uploads.find({}).forEach((doc) => {
  const id = doc._id.toString();
  db.uploads.updateOne({ _id: doc._id }, { $set: { uploader_name: "Uploader " + id, uploader_email: "uploader-" + id + "@example.invalid" }, $unset: { uploader_address: "", uploader_phone: "" } });
});
