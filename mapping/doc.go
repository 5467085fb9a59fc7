// Package mapping holds crmsync's pure translation and matching rules: the
// code that decides what a value means, with no I/O, no context, no logging
// and no clock (time, when needed, is passed in).
//
// It covers:
//
//   - phone numbers: E164 normalises what people, CRMs and SIP headers write
//     ("067 123 45 67", "8 (912) 345-67-89", "tel:…", "sip:+380…@pbx") to
//     E.164; IsAnonymous recognises withheld callers; NationalDigits gives the
//     digits without country code for CRMs that search that way;
//   - employee data: Contact (phone or SIP URI), NormalizeEmail and the .ru
//     rule (IsRUDomain), NormalizeName, Login and LoginCandidates,
//     ValidExtension and NextFreeExtension;
//   - names across scripts: Transliterate (Cyrillic → Latin) and NameKey, under
//     which "Sergey Petrov", "Sergei Petrov" and "Сергей Петров" are one name;
//   - the CRM-user ↔ employee matcher run by user sync: Match links the users
//     of a CRM account to the tenant's employees by email, then phone, then
//     name, never touching manual links, and reports what is ambiguous,
//     unmatched or no longer linked.
//
// Errors wrap the package's sentinels (ErrInvalidPhone, ErrInvalidContact,
// ErrInvalidEmail, ErrInvalidExtension) and say what is wrong in words an
// admin can act on.
package mapping
