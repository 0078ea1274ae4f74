// Passkey ceremonies: a form with data-passkey="create" (adding a passkey) or "get" (using one) and
// data-passkey-options naming the JSON element that holds the server's options. On submit the
// browser asks the authenticator, writes its answer into the form's hidden "credential" field as
// JSON, and sends the form. Everything is checked on the server; this only carries bytes.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  // The credential as the JSON the server reads (the shape of PublicKeyCredential.toJSON()).
  function answer(credential, response) {
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response,
    };
  }

  function create(options) {
    var publicKey = Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      user: Object.assign({}, options.user, { id: toBytes(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
    });
    return navigator.credentials.create({ publicKey: publicKey }).then(function (made) {
      var response = made.response;
      return answer(made, {
        clientDataJSON: toText(response.clientDataJSON),
        attestationObject: toText(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : [],
      });
    });
  }

  function get(options) {
    var publicKey = Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    });
    return navigator.credentials.get({ publicKey: publicKey }).then(function (used) {
      var response = used.response;
      return answer(used, {
        clientDataJSON: toText(response.clientDataJSON),
        authenticatorData: toText(response.authenticatorData),
        signature: toText(response.signature),
        userHandle: response.userHandle ? toText(response.userHandle) : null,
      });
    });
  }

  function problem(form, text) {
    var shown = form.querySelector("[data-passkey-problem]");
    if (shown) {
      shown.textContent = text;
      shown.hidden = false;
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var kind = form.getAttribute("data-passkey");
    if (!kind) {
      return;
    }
    event.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      problem(form, "This browser cannot use passkeys.");
      return;
    }
    var name = form.querySelector("input[name='name']");
    if (name && !name.value.trim()) {
      // Asked before the authenticator makes a key that the server would then refuse to keep.
      problem(form, "Name: give the passkey a name, such as the device it is on.");
      return;
    }
    var source = document.getElementById(form.getAttribute("data-passkey-options"));
    var options = JSON.parse(source.textContent);
    var ceremony = kind === "create" ? create(options) : get(options);
    ceremony.then(
      function (answer) {
        form.querySelector("input[name='credential']").value = JSON.stringify(answer);
        form.submit();
      },
      function (error) {
        problem(form, "The passkey was not used (" + error.name + "). Try again, or reload the page.");
      }
    );
  });
})();
