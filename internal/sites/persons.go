package sites

// Responsible persons (责任人) and ID numbers: Sieve does not store ID numbers (居民身份证号码) at
// all, neither in clear nor encrypted. What the campaign does with a responsible person —
// accountability, the leasing party's liability, transfer to judicial organs, the credit
// listing (联合惩戒) — is done by the departments that already hold verified identities
// (公安, 市场监管 with the firm's 统一社会信用代码); Sieve needs to say who (name, role, phone,
// the firm) so that they can act. An ID number is sensitive personal information under the
// Personal Information Protection Law (个人信息保护法 §28), which asks for a specific necessity
// Sieve does not have, and a store of them would make the database a target and its backups,
// exports and audit rows (which copy whole rows) a liability; encrypting it would need key
// management (rotation, a key per environment) for a field nobody here reads. The request
// schema has no field for it, so one sent by mistake is refused (400), not silently dropped.
