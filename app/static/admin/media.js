// Media library: a focused URL or Markdown field selects itself for copying. A file, not an
// inline onfocus handler: the Content-Security-Policy (app/routes/security-headers.ts) runs
// scripts from /static only.
document.querySelectorAll('input[data-select-on-focus]').forEach((input) => {
  input.addEventListener('focus', () => input.select());
});
