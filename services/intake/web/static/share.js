// The "someone else" page: share the form's link with the Web Share API where the device has
// it, or copy it; both buttons stay hidden when neither works, the link itself always does.
(function () {
  "use strict";
  var link = document.getElementById("share-url");
  var share = document.getElementById("share");
  var copy = document.getElementById("copy");
  var status = document.getElementById("copied");
  if (!link) return;
  var url = link.getAttribute("href");
  if (share && navigator.share) {
    share.hidden = false;
    share.addEventListener("click", function () {
      navigator.share({ title: share.getAttribute("data-title"), url: url }).catch(function () {});
    });
  }
  if (copy && navigator.clipboard && window.isSecureContext) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(url).then(function () {
        status.textContent = status.getAttribute("data-text");
      });
    });
  }
})();
