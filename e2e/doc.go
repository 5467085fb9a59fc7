// Package e2e holds crmsync's end-to-end tests: the real binary
// (`crmsync serve --demo`) driven over HTTP, SIP (sipp) and a headless
// Chromium (chromedp). Browser tests skip without /usr/bin/chromium, except
// in CI (CI=true), where they fail.
package e2e
