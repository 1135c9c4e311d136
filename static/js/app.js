// Small behaviours that need script; the pages work without it.
document.addEventListener("click", (event) => {
  const menu = document.querySelector("details.usermenu[open]");
  if (menu && !menu.contains(event.target)) menu.removeAttribute("open");
});
