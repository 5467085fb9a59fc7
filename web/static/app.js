// crmsync admin pages: small progressive enhancements; every page works without them.
// - <select data-autosubmit> submits its form when changed.
// - <form data-confirm="…"> asks before submitting.
document.addEventListener('change', function (e) {
  var el = e.target;
  if (el.matches && el.matches('select[data-autosubmit]') && el.form) { el.form.requestSubmit(); }
});
document.addEventListener('submit', function (e) {
  var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) { e.preventDefault(); }
});
