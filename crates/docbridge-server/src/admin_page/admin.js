// docbridge admin page: copy buttons, the only script (served from /admin/static/admin.js, as
// the CSP allows no inline script). Each button copies the value of the input it names.
document.addEventListener('click', function (event) {
  var button = event.target.closest('button[data-copy]');
  if (!button) return;
  var input = document.getElementById(button.getAttribute('data-copy'));
  if (!input) return;
  var done = function () {
    button.textContent = 'Copied';
    setTimeout(function () { button.textContent = 'Copy'; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
  } else {
    // Plain http on a remote host: no Clipboard API; select the text for Ctrl+C instead.
    input.focus();
    input.select();
    if (document.execCommand && document.execCommand('copy')) done();
  }
});
